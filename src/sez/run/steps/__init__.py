"""The pipeline's steps, one module per family; each step is a function of the run's shared state
(:class:`sez.run.context.Run`), registered in :data:`sez.run.runner.STEPS`.
"""
