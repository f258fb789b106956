//! Direct (DSR) and iterative (ITERSR, LoPAR) super-resolution on top of CogLM (in progress).
