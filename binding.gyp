# The native addon (src/native/): built by `npm ci` (package.json "install" runs
# scripts/build-native.mjs, which runs node-gyp), loaded by src/host/kernel.ts.
{
  "targets": [
    {
      "target_name": "dolly_kernel",
      "sources": ["src/native/kernel.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
    }
  ]
}
