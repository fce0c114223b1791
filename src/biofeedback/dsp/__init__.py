"""Signal processing: pure numpy/scipy, no threads, no I/O, no Qt (SPEC.md section 2).

:class:`Pipeline` turns a stream's chunks (ADC counts or imported uV/mV) into the filtered signal,
the causal RMS envelope in microvolts at the electrodes and per-sample quality flags.
"""

from biofeedback.dsp.pipeline import (
    OutputChannel,
    Pipeline,
    PipelineSettings,
    PipelineSettingsError,
)

__all__ = ["OutputChannel", "Pipeline", "PipelineSettings", "PipelineSettingsError"]
