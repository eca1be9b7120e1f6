# Two entry points for a fresh machine:
#   make run    set up .venv, then `bench run` on the best device found (cuda:0 if there is one, else cpu)
#   make test   set up .venv with the test tools, then run the test suite
#   make check-wheel   build the wheel, install it into a fresh environment, use it from another folder
.PHONY: run test check-wheel

run:
	scripts/setup.sh
	.venv/bin/bench run

test:
	scripts/setup.sh test
	.venv/bin/python -m pytest -q

check-wheel:
	scripts/check-wheel.sh
