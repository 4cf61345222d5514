#include "common/signals.h"

#include <csignal>

namespace dx {
namespace {
sigset_t TerminationSet() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

sigset_t AllSet() {
  sigset_t set = TerminationSet();
  sigaddset(&set, SIGHUP);
  return set;
}
}  // namespace

void BlockTerminationSignals() {
  sigset_t set = AllSet();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int WaitForTerminationSignal() {
  sigset_t set = TerminationSet();
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

int WaitForSignal() {
  sigset_t set = AllSet();
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

}  // namespace dx
