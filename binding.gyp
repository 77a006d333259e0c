{
  "targets": [
    {
      "target_name": "tap6_tap",
      "sources": [
        "src/link/tap/addon/tap.cc",
        "src/link/tap/addon/tap_device.cc",
        "src/link/tap/addon/netdev.cc",
        "src/link/tap/addon/errors.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-fno-exceptions"]
    }
  ]
}
