{
  # The native kernel addon (build/Release/aelab.node). Only g++ is needed: BLAS is dlopen()ed at run time.
  'targets': [
    {
      'target_name': 'aelab',
      'sources': [
        'native/addon.cc',
        'native/pool.cc',
        'native/gemm.cc',
        'native/elementwise.cc',
        'native/rows.cc',
        'native/sparse.cc',
        'native/lm.cc',
        'native/bf16.cc',
      ],
      'include_dirs': [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        'native',
      ],
      # C++ exceptions: node-addon-api turns a thrown Napi::Error into a JS exception.
      'defines': [ 'NAPI_CPP_EXCEPTIONS', 'NAPI_VERSION=8', 'NODE_ADDON_API_DISABLE_DEPRECATED' ],
      'cflags!': [ '-fno-exceptions', '-O2', '-O0' ],
      'cflags_cc!': [ '-fno-exceptions', '-fno-rtti', '-std=gnu++17', '-O2', '-O0' ],
      # No -ffast-math: results must be deterministic and NaN-correct. -std=c++17 (ISO) also means
      # -ffp-contract=off, so the GEMM micro-kernel asks for FMA explicitly.
      'cflags': [ '-O3', '-march=native', '-fno-math-errno', '-pthread' ],
      'cflags_cc': [ '-O3', '-march=native', '-std=c++17', '-fexceptions', '-fno-math-errno', '-pthread' ],
      'libraries': [ '-ldl', '-pthread' ],
      'ldflags': [ '-pthread' ],
    },
  ],
}
