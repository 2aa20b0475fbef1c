// Thin shim for Linux interfaces the Swift Glibc module does not export.
// Only declarations and trivial wrappers belong here; all logic is in Swift.
#ifndef CBULWARK_LINUX_H
#define CBULWARK_LINUX_H

#include <sys/types.h>
#include <sys/xattr.h>

/// memfd_create(2): an anonymous file in memory (content to extract never touches a disk).
int cbulwark_memfd_create(const char *name);

#endif
