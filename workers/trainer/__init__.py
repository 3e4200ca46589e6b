"""The trainer: CNN template (model), dataset registry (data) and training loop (loop).

Nothing here imports torch at package import: a Celery prefork parent that runs any
torch op before forking deadlocks its children (docs/architecture.md, "Processes"), so the task
module imports `workers.trainer.loop` lazily, inside the child.
"""
