// SealedMQTT module placeholder; replaced by the issue that builds it.
