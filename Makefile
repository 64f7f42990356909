# The README's commands. CMake does the building; this file only strings the steps
# together:
#
#   make test    install what is missing, build, run every test; then run the unit
#                tests again under AddressSanitizer and UndefinedBehaviorSanitizer
#   make bench   build and run the benchmarks
#   make demo    the main job: export ResNet-18, tune it on a local device server, build
#                one shared object, run it, compare outputs and latency with ONNX Runtime
#   make demo-ops the operator demo: a conv2d and a dense against OpenBLAS
#   make clean   remove the build folders
#
# build/ is the ordinary build, build-asan/ the sanitizer one. Each is configured once;
# after that `cmake --build` re-runs CMake by itself when a CMakeLists.txt changes.
# Extra configure options: make test CMAKE_FLAGS='-DCMAKE_BUILD_TYPE=Debug'.

BUILD_DIR ?= build
ASAN_BUILD_DIR ?= build-asan
CMAKE ?= cmake
CTEST ?= ctest
JOBS ?= 2
CMAKE_FLAGS ?=

# CMake writes cmake_install.cmake only when a configure run succeeds, so its absence
# means the folder still has to be configured (or its last configure failed).
CONFIGURED := $(BUILD_DIR)/cmake_install.cmake
ASAN_CONFIGURED := $(ASAN_BUILD_DIR)/cmake_install.cmake

# cmake --build runs make for its own Makefiles; its "Entering directory" lines are noise.
MAKEFLAGS += --no-print-directory

.PHONY: all deps build test test-asan bench demo demo-ops clean

all: build

deps:
	@sh scripts/install-deps.sh

$(CONFIGURED): | deps
	$(CMAKE) -S . -B $(BUILD_DIR) $(CMAKE_FLAGS)

# The sanitizer build keeps assert() on (no NDEBUG) and optimizes a little (-O1), as the
# sanitizers' authors advise.
ASAN_CONFIGURE = $(CMAKE) -S . -B $(ASAN_BUILD_DIR) -DTESSERA_SANITIZE=ON \
    -DTESSERA_BUILD_BENCHMARKS=OFF -DCMAKE_BUILD_TYPE=Debug '-DCMAKE_C_FLAGS_DEBUG=-g -O1' \
    $(CMAKE_FLAGS)

$(ASAN_CONFIGURED): | deps
	$(ASAN_CONFIGURE)

build: deps $(CONFIGURED)
	$(CMAKE) --build $(BUILD_DIR) -j$(JOBS)

# The unit tests (label "unit") in the sanitizer build.
define run_asan_tests
	$(CMAKE) --build $(ASAN_BUILD_DIR) -j$(JOBS)
	cd $(ASAN_BUILD_DIR) && UBSAN_OPTIONS=print_stacktrace=1 \
	    $(CTEST) --output-on-failure -j$(JOBS) -L unit
endef

# The whole suite first; the sanitizer build is configured only once that passed.
test: build
	cd $(BUILD_DIR) && $(CTEST) --output-on-failure -j$(JOBS)
	@test -f $(ASAN_CONFIGURED) || { echo "$(ASAN_CONFIGURE)"; $(ASAN_CONFIGURE); }
	$(run_asan_tests)

test-asan: deps $(ASAN_CONFIGURED)
	$(run_asan_tests)

bench: deps $(CONFIGURED)
	$(CMAKE) --build $(BUILD_DIR) -j$(JOBS) --target bench

# The main job: a whole model (ResNet-18 from torchvision) tuned on a device server on
# loopback, built into one shared object, run, and compared with ONNX Runtime
# (scripts/demo.sh; DEMO_TRIALS=N trials per task).
demo: deps
	sh scripts/demo.sh $(BUILD_DIR)

# The operator demo: a conv2d layer and a dense tuned, exported, loaded back and compared
# with OpenBLAS (scripts/demo_ops.sh).
demo-ops: deps
	sh scripts/demo_ops.sh $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR) $(ASAN_BUILD_DIR)
