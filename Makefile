# Shortcuts for developers who have make; the README's commands need only bash and python3.
.PHONY: demo test check bench
demo:
	bash dev.sh demo
test:
	bash dev.sh test
check:
	bash dev.sh check
bench:
	.venv/bin/python bench/bench_importance.py
	.venv/bin/python bench/bench_trainer.py
