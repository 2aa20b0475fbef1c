// The system zlib, used directly so inflation can be bounded and a truncated stream detected.
#include <zlib.h>
