#define _GNU_SOURCE
#include <sys/mman.h>
#include <string.h>
#include <unistd.h>
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

long cbulwark_send_with_fds(int socket, const void *bytes, unsigned long length, const int *fds, int count) {
    struct iovec vector = {.iov_base = (void *)bytes, .iov_len = length};
    struct msghdr message = {.msg_iov = &vector, .msg_iovlen = 1};
    char control[CMSG_SPACE(sizeof(int) * 28)];
    if (count > 28) count = 28;
    if (count > 0) {
        memset(control, 0, sizeof(control));
        message.msg_control = control;
        message.msg_controllen = CMSG_SPACE(sizeof(int) * count);
        struct cmsghdr *header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int) * count);
        memcpy(CMSG_DATA(header), fds, sizeof(int) * count);
    }
    return sendmsg(socket, &message, MSG_NOSIGNAL);
}

long cbulwark_receive_with_fds(int socket, void *bytes, unsigned long length, int *fds, int capacity, int *count) {
    struct iovec vector = {.iov_base = bytes, .iov_len = length};
    char control[CMSG_SPACE(sizeof(int) * 28)];
    struct msghdr message = {.msg_iov = &vector, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof(control)};
    *count = 0;
    long received = recvmsg(socket, &message, MSG_CMSG_CLOEXEC);
    if (received < 0) return received;
    for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header != NULL; header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
        int passed = (int)((header->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int *incoming = (int *)CMSG_DATA(header);
        for (int index = 0; index < passed; index++) {
            if (*count < capacity) fds[(*count)++] = incoming[index];
            else close(incoming[index]);  // more than we can take: do not leak them
        }
    }
    return received;
}
