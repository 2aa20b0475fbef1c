// The shim is header-only for now; SwiftPM needs one source file per C target.
#include "CBulwarkLinux.h"
