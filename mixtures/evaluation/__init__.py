"""The evaluation core: what a mixture is judged by, against what, and whether the data looked sound.

| module | what |
| --- | --- |
| :mod:`mixtures.objective` | the target objective (one definition) |
| :mod:`mixtures.evaluation.baselines` | natural, uniform, the best proxy run, named mixtures; the law's objective for each |
| :mod:`mixtures.evaluation.scale` | where the verdict is measured (the validation scale) and its run specs |
| :mod:`mixtures.evaluation.verdict` | win / tie / loss per baseline from seeds, the law's error |
| :mod:`mixtures.evaluation.checks` | a finished run's data checks, the extrapolation policy of the laws |

Assets, CLI, report and the online comparison call these; the report renders a stored verdict.
"""
