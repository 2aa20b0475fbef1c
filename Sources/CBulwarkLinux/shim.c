#define _GNU_SOURCE
#include <sys/mman.h>
#include <string.h>
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/connector.h>
#include <linux/cn_proc.h>
#include <fcntl.h>
#include <sys/fanotify.h>
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

int cbulwark_proc_events_open(void) {
    int fd = socket(PF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_CONNECTOR);
    if (fd < 0) return -1;
    struct sockaddr_nl address = {.nl_family = AF_NETLINK, .nl_groups = CN_IDX_PROC, .nl_pid = 0};
    if (bind(fd, (struct sockaddr *)&address, sizeof(address)) != 0) {
        close(fd);
        return -1;
    }
    // nlmsghdr, then cn_msg, then the operation (cn_msg ends in a flexible array: no struct).
    char request[NLMSG_SPACE(sizeof(struct cn_msg) + sizeof(enum proc_cn_mcast_op))] __attribute__((aligned(NLMSG_ALIGNTO)));
    memset(request, 0, sizeof(request));
    struct nlmsghdr *header = (struct nlmsghdr *)request;
    header->nlmsg_len = NLMSG_LENGTH(sizeof(struct cn_msg) + sizeof(enum proc_cn_mcast_op));
    header->nlmsg_type = NLMSG_DONE;
    struct cn_msg *message = (struct cn_msg *)NLMSG_DATA(header);
    message->id.idx = CN_IDX_PROC;
    message->id.val = CN_VAL_PROC;
    message->len = sizeof(enum proc_cn_mcast_op);
    enum proc_cn_mcast_op operation = PROC_CN_MCAST_LISTEN;
    memcpy(message->data, &operation, sizeof(operation));
    if (send(fd, request, header->nlmsg_len, 0) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int cbulwark_proc_events_read(int fd, cbulwark_proc_event *events, int capacity) {
    char buffer[8192] __attribute__((aligned(NLMSG_ALIGNTO)));
    ssize_t length = recv(fd, buffer, sizeof(buffer), 0);
    if (length < 0) return -1;
    int count = 0;
    for (struct nlmsghdr *header = (struct nlmsghdr *)buffer; NLMSG_OK(header, (unsigned int)length) && count < capacity;
         header = NLMSG_NEXT(header, length)) {
        if (header->nlmsg_type == NLMSG_ERROR || header->nlmsg_type == NLMSG_NOOP) continue;
        struct cn_msg *message = (struct cn_msg *)NLMSG_DATA(header);
        if (message->id.idx != CN_IDX_PROC || message->id.val != CN_VAL_PROC) continue;
        struct proc_event *event = (struct proc_event *)message->data;
        if (event->what == PROC_EVENT_FORK && event->event_data.fork.child_pid == event->event_data.fork.child_tgid) {
            events[count++] = (cbulwark_proc_event){.kind = 3, .pid = event->event_data.fork.child_pid, .tgid = event->event_data.fork.child_tgid,
                                                    .parent = event->event_data.fork.parent_tgid};
        } else if (event->what == PROC_EVENT_EXEC) {
            events[count++] = (cbulwark_proc_event){.kind = 1, .pid = event->event_data.exec.process_pid, .tgid = event->event_data.exec.process_tgid};
        } else if (event->what == PROC_EVENT_EXIT) {
            events[count++] = (cbulwark_proc_event){.kind = 2, .pid = event->event_data.exit.process_pid, .tgid = event->event_data.exit.process_tgid};
        }
    }
    return count;
}

int cbulwark_fanotify_init(void) {
    return fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, O_RDONLY | O_LARGEFILE | O_CLOEXEC | O_NOATIME);
}

int cbulwark_fanotify_init_notifications(void) {
    return fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK, O_RDONLY | O_LARGEFILE | O_CLOEXEC | O_NOATIME);
}

#ifndef FAN_MARK_FILESYSTEM
#define FAN_MARK_FILESYSTEM 0x00000100
#endif

int cbulwark_fanotify_mark(int fd, const char *path, unsigned long long mask, int whole_filesystem) {
    return fanotify_mark(fd, FAN_MARK_ADD | (whole_filesystem ? FAN_MARK_FILESYSTEM : FAN_MARK_MOUNT), mask, AT_FDCWD, path);
}

int cbulwark_fanotify_unmark(int fd, const char *path, unsigned long long mask, int whole_filesystem) {
    return fanotify_mark(fd, FAN_MARK_REMOVE | (whole_filesystem ? FAN_MARK_FILESYSTEM : FAN_MARK_MOUNT), mask, AT_FDCWD, path);
}

int cbulwark_fanotify_ignore(int fd, int event_fd, unsigned long long mask) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", event_fd);
    return fanotify_mark(fd, FAN_MARK_ADD | FAN_MARK_IGNORED_MASK, mask, AT_FDCWD, path);
}

int cbulwark_fanotify_unignore(int fd, int event_fd, unsigned long long mask) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", event_fd);
    return fanotify_mark(fd, FAN_MARK_REMOVE | FAN_MARK_IGNORED_MASK, mask, AT_FDCWD, path);
}

int cbulwark_fanotify_flush(int fd) {
    int filesystems = fanotify_mark(fd, FAN_MARK_FLUSH | FAN_MARK_FILESYSTEM, 0, AT_FDCWD, "/");
    int mounts = fanotify_mark(fd, FAN_MARK_FLUSH | FAN_MARK_MOUNT, 0, AT_FDCWD, "/");
    return filesystems == 0 || mounts == 0 ? 0 : -1;
}

int cbulwark_fanotify_read(int fd, cbulwark_fanotify_event *events, int capacity) {
    char buffer[8192] __attribute__((aligned(__alignof__(struct fanotify_event_metadata))));
    ssize_t length = read(fd, buffer, sizeof(buffer));
    if (length < 0) return -1;
    int count = 0;
    struct fanotify_event_metadata *metadata = (struct fanotify_event_metadata *)buffer;
    while (FAN_EVENT_OK(metadata, length)) {
        if (metadata->vers != FANOTIFY_METADATA_VERSION) {
            errno = EPROTO;
            return -1;
        }
        if (count < capacity) {
            events[count++] = (cbulwark_fanotify_event){.mask = metadata->mask, .fd = metadata->fd, .pid = metadata->pid};
        } else if (metadata->fd >= 0) {
            // Cannot happen with a buffer of this size and capacity >= 64; never leak a held open.
            struct fanotify_response response = {.fd = metadata->fd, .response = FAN_ALLOW};
            if (metadata->mask & (FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM | FAN_ACCESS_PERM)) write(fd, &response, sizeof(response));
            close(metadata->fd);
        }
        metadata = FAN_EVENT_NEXT(metadata, length);
    }
    return count;
}

int cbulwark_fanotify_respond(int fd, int event_fd, int allow) {
    struct fanotify_response response = {.fd = event_fd, .response = allow ? FAN_ALLOW : FAN_DENY};
    return write(fd, &response, sizeof(response)) == sizeof(response) ? 0 : -1;
}
