#include <zlib.h>

/// inflateInit2 for gzip members only (inflateInit2 is a macro, so Swift cannot call it).
static inline int instill_inflate_init_gzip(z_streamp stream) {
  return inflateInit2(stream, 15 + 16);
}
