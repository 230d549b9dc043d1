# The README's commands. Each target installs what it needs on a fresh machine (a virtualenv, the images).
#   make chaos          run the default suite (scenarios/) against fresh Docker clusters; SUITE=dir, BUGS=a,b,
#                       TARGET=etcd (the system under test: paxos, the default, etcd or maelstrom),
#                       NODE=path/to/program (TARGET=maelstrom: the Maelstrom node to test)
#                       SHARD=K/N (only slice K of N of the suite: `paxos-chaos list DIR --shards N`)
#   make test           the whole test suite, end-to-end tests included (what CI runs: .ci/run)
#   make unit           only the fast tests (no Docker, no replica processes)
#   make sim            the deterministic simulator over 1000 seeds (no Docker); SEEDS=n, BUGS=a,b, N=5 pins
#                       the cluster size (else each seed draws 3, 5 or 7: swarm testing)
#   make images         build every image, offline when no registry is reachable
#   make up N=5         start a cluster (N=3|5|7; PORT_BASE=8000 puts the API on 8474, client-ni on 8000+i)
#   make status / down  show / remove it (containers, network and volumes of the project; ALL=1: all of ours)
PYTHON    ?= python3
VENV      := .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.installed
N         ?= 3
PORT_BASE ?= 8000
PROJECT   ?= paxos-chaos
CLUSTER   := $(PY) -m harness.cluster --project $(PROJECT)

.PHONY: venv images browser up down status test unit chaos sim sim-scenarios clean

venv: $(STAMP)
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## images: the Python base, the replica and the Toxiproxy server (reused when present and current)
images: venv
	$(PY) -m harness.images

## up: a healthy N-replica cluster behind Toxiproxy (N=3|5|7, PORT_BASE, PROJECT)
up: images
	$(CLUSTER) up --n $(N) --port-base $(PORT_BASE) $(if $(TARGET),--target $(TARGET),) $(if $(NODE),--node $(abspath $(NODE)),)

## down: remove the project's containers, networks and volumes (ALL=1: every paxos-chaos project)
down: venv
	$(CLUSTER) down $(if $(ALL),--all,)

## status: containers, health, role and leader of every replica
status: venv
	$(CLUSTER) status --n $(N) --port-base $(PORT_BASE)

## browser: headless Chromium for the report tests (Debian's package, installed with apt where there is
##          none; GitHub's Ubuntu runners have google-chrome, which serves as well)
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  command -v google-chrome >/dev/null 2>&1 || \
	  { echo "installing Debian's chromium for the report tests (apt-get, needs root)"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

## test: the whole test suite (what CI runs)
test: images browser
	$(PY) -m pytest --durations=25

## unit: only the tests that need neither Docker, replica processes nor FUSE mounts
unit: venv
	$(PY) -m pytest -m 'not docker and not processes and not fuse'

## chaos: the default suite (every scenario in scenarios/, one fresh cluster each); results in store/
##        TARGET=etcd runs the scenarios that apply to etcd (`paxos-chaos list --target etcd`)
##        (builds only the images it needs: the base, Toxiproxy and the target's; `make images` builds all)
SUITE ?= scenarios
chaos: venv
	$(PY) -m harness.images --target $(or $(TARGET),paxos)
	$(PY) -m harness.cli run --suite $(SUITE) --port-base $(PORT_BASE) $(if $(SHARD),--shard $(SHARD),) $(if $(BUGS),--bugs $(BUGS),) $(if $(TARGET),--target $(TARGET),) $(if $(NODE),--node $(abspath $(NODE)),)

## sim: the simulator (harness/sim, docs/simulator.md): SEEDS seeds of its own schedules, stop at the first
##      failing one; then sim-scenarios
SEEDS ?= 1000
sim: venv
	$(PY) -m harness.cli sim --seeds $(SEEDS) $(if $(filter command line environment,$(origin N)),--size $(N),) $(if $(BUGS),--bugs $(BUGS),)
	$(MAKE) --no-print-directory sim-scenarios

## sim-scenarios: every scenario of SUITE in the simulator (their cluster, workload and fault plan in
##      virtual time), SCENARIO_SEEDS seeds each from the file's seed, 10 minutes of wall time at most
SCENARIO_SEEDS ?= 5
sim-scenarios: venv
	$(PY) -m harness.cli sim $(SUITE) --seeds $(SCENARIO_SEEDS) --max-time 10m $(if $(BUGS),--bugs $(BUGS),)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .images
