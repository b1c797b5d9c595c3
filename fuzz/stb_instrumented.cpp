// stb_image and stb_image_resize compiled into the folder fuzz target from
// Debian's headers (the same code as libstb), so the decoder is instrumented
// like our own code: coverage steers the fuzzer into it and ASan sees inside.
// The executable's definitions take precedence over libstb's.
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#include <stb_image.h>
#include <stb_image_resize.h>
