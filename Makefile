# `make demo` and `make test` (the README's two commands, scripts/demo and
# scripts/test, run them after installing make). CMake does the build; this
# file only wires builds, sanitizers and dependencies together.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
# Progress lines only: no "Entering/Leaving directory" from CMake's own makes
# (MAKEFLAGS reaches them through the environment).
MAKEFLAGS += --no-print-directory
# make install PREFIX=/opt/parc [DESTDIR=/stage]
PREFIX ?= /usr/local
DESTDIR ?=
CMAKE_FLAGS ?=
ifeq ($(CI),true)
  CMAKE_FLAGS += -DPARC_WERROR=ON
endif
# Warnings are errors in every build we test.
TEST_FLAGS = -DPARC_WERROR=ON
# The sanitizer builds leave PARC_MPI out: Open MPI's own allocations (which
# LeakSanitizer reports) and its uninstrumented threads are not parc's; there
# the suites test the PARC_EBACKEND path, and the plain build runs the MPI suite.
NO_MPI = -DPARC_WITH_MPI=OFF

.PHONY: all build demo test test-plain test-asan test-tsan test-valgrind contract bench clean install deb

all: build

build:
	@scripts/deps core
	cmake -S . -B build $(CMAKE_FLAGS) >/dev/null
	cmake --build build -j$(JOBS)

demo:
	@scripts/deps demo
	cmake -S . -B build $(CMAKE_FLAGS) >/dev/null
	cmake --build build -j$(JOBS)
	build/examples/demo

test:
	@scripts/deps test
	$(MAKE) test-plain test-asan test-tsan test-valgrind contract
	@echo "make test: every suite passed (plain, ASan+UBSan, TSan, valgrind, contract)"

test-plain:
	cmake -S . -B build $(TEST_FLAGS) >/dev/null
	cmake --build build -j$(JOBS)
	cd build && ctest --output-on-failure -j$(JOBS)

test-asan:
	cmake -S . -B build-asan $(TEST_FLAGS) -DPARC_SANITIZE=address -DCMAKE_BUILD_TYPE=Debug $(NO_MPI) >/dev/null
	cmake --build build-asan -j$(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j$(JOBS) -LE no-asan

test-tsan:
	cmake -S . -B build-tsan $(TEST_FLAGS) -DPARC_SANITIZE=thread -DCMAKE_BUILD_TYPE=Debug $(NO_MPI) >/dev/null
	cmake --build build-tsan -j$(JOBS)
	cd build-tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 ctest --output-on-failure -j$(JOBS) -L threads

test-valgrind: test-plain
	valgrind --quiet --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect \
	  --trace-children=yes build/test_conformance

contract:
	cc -std=c11 -Wall -Wextra -Werror -fsyntax-only -Iinclude tests/contract.c

bench:
	@scripts/deps bench
	cmake -S . -B build $(CMAKE_FLAGS) >/dev/null
	cmake --build build -j$(JOBS)
	bench/run

# DESTDIR stages the files (packaging); without it, as root into a system
# prefix, the install runs ldconfig. The tool finds libparc through its RPATH
# ($ORIGIN/../lib), so any PREFIX works without LD_LIBRARY_PATH.
install: build
	DESTDIR="$(DESTDIR)" cmake --install build --prefix "$(PREFIX)"

# A Debian package of the library, header, pkg-config file, CMake package,
# the tool and the man pages: build/parc_VERSION_ARCH.deb.
deb:
	@scripts/deps deb
	cmake -S . -B build $(CMAKE_FLAGS) >/dev/null
	cmake --build build -j$(JOBS)
	cd build && cpack -G DEB >/dev/null && ls "$$PWD"/*.deb

clean:
	rm -rf build build-asan build-tsan
