# notify_rules — see README.md. Everything runs through scripts/ (set-up is idempotent and cached).
.PHONY: setup run test bench bench-quick lint

setup:
	@bash scripts/setup.sh >/dev/null

run:
	@bash scripts/run.sh

test:
	@bash scripts/test.sh

bench:
	@bash scripts/bench.sh

bench-quick:
	@bash scripts/bench.sh --quick

lint:
	@bash scripts/lint.sh
