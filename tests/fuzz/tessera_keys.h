/* tessera_keys.h — the published test keys of the Tessera test log
 * (tests/data/tessera/README.md), shared by the fuzz targets. Test-only. */
#ifndef TALLINN_FUZZ_TESSERA_KEYS_H
#define TALLINN_FUZZ_TESSERA_KEYS_H

#define TESSERA_VKEY "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx"
#define TESSERA_SKEY \
    "PRIVATE+KEY+example.com/log/testdata+33d7b496+AeymY/SZAX0jZcJ8enZ5FY1Dz+wTML2yWSkK+9DSF3eg"

#endif
