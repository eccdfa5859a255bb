// What a child reports through the CLOEXEC error pipe when it cannot start
// the command: {step, errno} as two ints. Written by spawn.cc's child and by
// stdmpi-init (init_main.cc), read by Spawn(), which words the message.
#ifndef STDMPI_LIBSHIM_CHILD_STEPS_H_
#define STDMPI_LIBSHIM_CHILD_STEPS_H_

namespace stdmpi {

enum ChildStep {
  kStepSetup = 1,
  kStepDup = 2,
  kStepChdir = 3,
  kStepExec = 4,
  // stdmpi-init, while it builds the container or applies limits.
  kStepNamespaces = 5,
  kStepMounts = 6,
  kStepNetwork = 7,
  kStepImageExec = 8,
  kStepImage = 9,
  kStepLimits = 10,
};

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_CHILD_STEPS_H_
