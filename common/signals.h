// Blocks SIGTERM, SIGINT and SIGHUP in every thread and waits for them on
// one, so servers shut down gracefully instead of dying, and reload on
// SIGHUP (a process that does not wait for SIGHUP ignores it).
#ifndef DX_COMMON_SIGNALS_H_
#define DX_COMMON_SIGNALS_H_

namespace dx {

// Call first thing in main, before any thread starts.
void BlockTerminationSignals();
// Blocks until SIGTERM or SIGINT arrives; returns the signal number.
int WaitForTerminationSignal();
// Blocks until SIGTERM, SIGINT or SIGHUP arrives; returns the signal number.
int WaitForSignal();

}  // namespace dx

#endif  // DX_COMMON_SIGNALS_H_
