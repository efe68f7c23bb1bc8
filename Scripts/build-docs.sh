#!/usr/bin/env bash
# Usage: Scripts/build-docs.sh [TARGET...]
# Builds the DocC documentation of every library module (or of the given targets) with swift-docc-plugin, warnings
# treated as errors: a broken ``symbol link``, an unresolved topic in a .docc catalogue, an undocumented parameter
# fails the run. One target at a time (the plugin would run several docc processes at once); every target is built
# even after one fails, so a run lists all of them, and the exit status is non-zero if any failed.
# Output: .build/docs/<Target>.doccarchive (open one with `docc preview`, or serve it as a static site).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# The library targets: the ones with a .docc catalogue, and TopicFilters (documented from its comments alone).
targets=(TopicFilters Seal SealKeyring SealFleet MQTT SealedMQTT LocalBroker SealBench)
[ "$#" -eq 0 ] || targets=("$@")

out="$root/.build/docs"
mkdir -p "$out"
failed=()
for target in "${targets[@]}"; do
    echo "-- docs: $target"
    rm -rf "${out:?}/$target.doccarchive"
    # --disable-sandbox: on macOS the plugin may then write to .build/docs (Linux has no plugin sandbox).
    if swift package --disable-sandbox generate-documentation --target "$target" --warnings-as-errors \
        --output-path "$out/$target.doccarchive" \
        && [ -d "$out/$target.doccarchive" ]; then
        :
    else
        failed+=("$target")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "build-docs: DocC failed (warnings are errors) for: ${failed[*]}" >&2
    exit 1
fi
echo "build-docs: ${#targets[@]} documentation archives in .build/docs"
