//! cubecl kernels of CogView2: 2-D local attention and the LoPAR step, each with a plain burn-ops reference (in progress).
