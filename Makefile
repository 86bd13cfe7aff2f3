# Frost: the two commands a new user needs are `make run` and `make test`.
# Both install what is missing (scripts/install-deps.sh), then build with CMake.

BUILD     ?= build
CC_FROST  ?= clang
JOBS      ?= $(shell nproc 2>/dev/null || echo 2)
LISTEN    ?= 127.0.0.1:9800
DATA_DIR  ?= ./frost-data
CMAKE_ARGS ?=
ifeq ($(CI),true)
  CMAKE_ARGS += -DFROST_WERROR=ON
endif

.PHONY: all build deps configure run test bench format clean fuzz

all: build

deps:
	@bash scripts/install-deps.sh

configure:
	@cmake -S . -B $(BUILD) -DCMAKE_C_COMPILER=$(CC_FROST) $(CMAKE_ARGS) >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

run: deps configure
	@cmake --build $(BUILD) -j $(JOBS) --target frost
	@bash scripts/run.sh $(BUILD)/frost $(LISTEN) $(DATA_DIR)

test: deps build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: deps build
	@bash bench/http/run.sh $(BUILD)/frost
	@bash bench/proxy/run.sh $(BUILD)/frost
	@bash bench/dispatch/run.sh $(BUILD)/frost
	@bash bench/coldstart/run.sh $(BUILD)/frost
	@bash bench/thaw/run.sh $(BUILD)/frost
	@bash bench/async/run.sh $(BUILD)/frost

format:
	@find src tests bench -name '*.[ch]' -print0 | xargs -0 clang-format -i

fuzz: deps build
	@cd $(BUILD) && ctest -L fuzz --output-on-failure

clean:
	rm -rf $(BUILD)
