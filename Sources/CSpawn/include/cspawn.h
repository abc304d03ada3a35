#ifndef CSPAWN_H
#define CSPAWN_H
#include <sys/types.h>

/// Starts `path` with `argv`/`envp` (NULL-terminated) in a new process group,
/// with stdout and stderr sent to `log_fd` (or inherited when -1). The child is
/// sent SIGKILL when the calling *thread* exits, so call it from a thread that
/// lives as long as the child should. Returns the pid, or -1 with errno set.
pid_t cspawn_tied(const char *path, char *const argv[], char *const envp[], int log_fd);

#endif
