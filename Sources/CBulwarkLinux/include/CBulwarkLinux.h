// Thin shim for Linux interfaces the Swift Glibc module does not export.
// Only declarations and trivial wrappers belong here; all logic is in Swift.
#ifndef CBULWARK_LINUX_H
#define CBULWARK_LINUX_H

#include <sys/types.h>
#include <sys/xattr.h>
#include <dlfcn.h>

// X11 types for the clipboard guard. Only the headers are used: the libraries are loaded at
// run time with dlopen (X11Library.swift), so a headless host runs without them.
#include <X11/Xlib.h>
#include <X11/Xatom.h>
#include <X11/extensions/Xfixes.h>
#include <X11/extensions/XRes.h>

/// memfd_create(2): an anonymous file in memory (content to extract never touches a disk).
int cbulwark_memfd_create(const char *name);

/// SO_PEERCRED of a connected Unix socket: who is on the other end, as the kernel knows it.
/// Returns 0 on success, -1 with errno set.
int cbulwark_peer_credentials(int fd, pid_t *pid, uid_t *uid, gid_t *gid);

/// sendmsg(2) of `length` bytes with `count` file descriptors attached (SCM_RIGHTS).
/// Returns the bytes sent, or -1 with errno set.
long cbulwark_send_with_fds(int socket, const void *bytes, unsigned long length, const int *fds, int count);

/// recvmsg(2) into `bytes`, collecting up to `capacity` passed file descriptors (close-on-exec)
/// into `fds` and their number into `*count`. Returns the bytes read (0 at end of stream), or
/// -1 with errno set.
long cbulwark_receive_with_fds(int socket, void *bytes, unsigned long length, int *fds, int capacity, int *count);

/// A process event from the kernel's proc connector: what happened to which process.
typedef struct {
    int kind;    // 1: exec, 2: exit, 3: fork (a new process, not a thread)
    int pid;     // the thread (for fork: the child's)
    int tgid;    // the process (thread group; for fork: the child)
    int parent;  // for fork: the parent process
} cbulwark_proc_event;

/// A netlink socket subscribed to the kernel's process events (proc connector; needs
/// CAP_NET_ADMIN). Returns the descriptor, or -1 with errno set.
int cbulwark_proc_events_open(void);

/// Blocks for the next datagram and decodes its exec and exit events into `events` (up to
/// `capacity`). Returns how many, 0 when the datagram held none of interest, -1 with errno set.
int cbulwark_proc_events_read(int fd, cbulwark_proc_event *events, int capacity);

// fanotify(7): file access permission events for the file guard. The FAN_* masks are
// imported from the system header.
#include <sys/fanotify.h>

/// A fanotify group in the content class (permission events), whose event descriptors are
/// opened read-only without touching the access time. Returns the descriptor, or -1 with errno.
int cbulwark_fanotify_init(void);
/// A fanotify group in the notification class, non-blocking: opens and writes nobody waits on,
/// read in batches at the reader's pace.
int cbulwark_fanotify_init_notifications(void);

/// Adds `mask` on the whole filesystem holding `path` (`whole_filesystem`, Linux 4.20+: seen from
/// every mount namespace, so a service in its own namespace, as systemd's ProtectSystem makes
/// it, still sees other processes' opens) or on its mount only. Returns 0, or -1 with errno set.
int cbulwark_fanotify_mark(int fd, const char *path, unsigned long long mask, int whole_filesystem);
/// Removes `mask` from that mark.
int cbulwark_fanotify_unmark(int fd, const char *path, unsigned long long mask, int whole_filesystem);

/// Adds `mask` to the ignore mask of the file open as `event_fd` (an inode mark, cleared by the
/// kernel when the file is modified). Returns 0, or -1 with errno set.
int cbulwark_fanotify_ignore(int fd, int event_fd, unsigned long long mask);
/// Removes `mask` from that ignore mask again.
int cbulwark_fanotify_unignore(int fd, int event_fd, unsigned long long mask);

/// Removes every filesystem and mount mark of the group (the watchdog's way out). Returns 0, or -1 with errno.
int cbulwark_fanotify_flush(int fd);

/// One event: what happened (FAN_* bits), the file (a descriptor the caller must close), who.
typedef struct {
    unsigned long long mask;
    int fd;
    int pid;
} cbulwark_fanotify_event;

/// Blocks for the next events and decodes up to `capacity` of them. Returns how many, or -1
/// with errno set. FAN_Q_OVERFLOW comes with fd -1.
int cbulwark_fanotify_read(int fd, cbulwark_fanotify_event *events, int capacity);

/// Answers a permission event: allow (1) or deny (0). Returns 0, or -1 with errno set.
int cbulwark_fanotify_respond(int fd, int event_fd, int allow);

#endif
