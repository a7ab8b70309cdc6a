// What the kernel image the driver loaded for a device holds. The fat binary's image for the device decides which
// code paths exist: the driver may also run an older image (sm_80 SASS on an sm_89 GPU, compute_80 PTX compiled at
// load time on a GPU the binary has no image for), so the device's compute capability alone does not say.
#pragma once

namespace b12x {

struct LoadedImage {
  bool wgmma;  // the dynamic strategy's warpgroup-MMA kernels have their body (sm_90a images)
  bool pdl;    // kernels were compiled with griddepcontrol (sm_90 or later): programmatic dependent launch may be used
};

// Asked once per device and cached; a device that cannot be queried has neither (the call's later checks report it).
LoadedImage loaded_image(int device);

}  // namespace b12x
