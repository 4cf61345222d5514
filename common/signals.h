// Blocks SIGTERM and SIGINT in every thread and waits for one of them on a
// dedicated thread, so servers shut down gracefully instead of dying.
#ifndef DX_COMMON_SIGNALS_H_
#define DX_COMMON_SIGNALS_H_

namespace dx {

// Call first thing in main, before any thread starts.
void BlockTerminationSignals();
// Blocks until SIGTERM or SIGINT arrives; returns the signal number.
int WaitForTerminationSignal();

}  // namespace dx

#endif  // DX_COMMON_SIGNALS_H_
