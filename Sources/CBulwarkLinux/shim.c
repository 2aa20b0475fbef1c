#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/socket.h>
#include "CBulwarkLinux.h"

int cbulwark_memfd_create(const char *name) {
    return memfd_create(name, MFD_CLOEXEC);
}

int cbulwark_peer_credentials(int fd, pid_t *pid, uid_t *uid, gid_t *gid) {
    struct ucred credentials;
    socklen_t length = sizeof(credentials);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) return -1;
    *pid = credentials.pid;
    *uid = credentials.uid;
    *gid = credentials.gid;
    return 0;
}
