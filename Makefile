# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# porthog build: bpf/*.bpf.c -> .bpf.o -> bpftool gen skeleton -> .skel.h (and the iterators
# alone -> .lskel.h) -> build/porthog
# V=1 shows the full commands.

OUT		:= build
CC		?= cc
CLANG		?= clang
LLVM_STRIP	?= llvm-strip
BPFTOOL		?= bpftool
PREFIX		?= /usr/local
DESTDIR		?=
SYSTEMDUNITDIR	?= $(PREFIX)/lib/systemd/system

ARCH		:= $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/' \
			-e 's/ppc64le/powerpc/' -e 's/s390x/s390/' -e 's/riscv64/riscv/')
VMLINUX_DIR	:= vmlinux/$(ARCH)

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

CFLAGS		?= -O2 -g
CFLAGS		+= -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Werror
CPPFLAGS	+= -I$(OUT) -Ibpf -Iuser -D_GNU_SOURCE
LDLIBS		+= -lbpf -lelf -lz -lmnl -lmicrohttpd -lncursesw -lm -lpthread
BPF_CFLAGS	:= -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_$(ARCH) \
		   -I$(VMLINUX_DIR) -Ibpf -mcpu=v3

BPF_SRCS	:= $(wildcard bpf/*.bpf.c)
BPF_OBJS	:= $(patsubst bpf/%.bpf.c,$(OUT)/%.bpf.o,$(BPF_SRCS))
SKELS		:= $(patsubst bpf/%.bpf.c,$(OUT)/%.skel.h,$(BPF_SRCS))
# the iterators alone, as a light skeleton (snapshot)
SKELS		+= $(OUT)/porthog_iter.lskel.h
USER_SRCS	:= $(wildcard user/*.c)
USER_OBJS	:= $(patsubst user/%.c,$(OUT)/%.o,$(USER_SRCS))
LIB_OBJS	:= $(filter-out $(OUT)/main.o,$(USER_OBJS))
UNIT_SRCS	:= $(wildcard tests/unit/*.c)
WORKLOADS	:= $(OUT)/ph_server $(OUT)/ph_client $(OUT)/ph_ports $(OUT)/connstorm
BENCH_TOOLS	:= $(OUT)/floor $(OUT)/floor.bpf.o

.PHONY: all clean install deb deps demo test unit e2e fuzz bench bench-quick check-arch vmlinux
.DELETE_ON_ERROR:
.SECONDARY:

all: $(OUT)/porthog

check-arch:
	@test -f $(VMLINUX_DIR)/vmlinux.h || { \
		echo "porthog: no $(VMLINUX_DIR)/vmlinux.h for arch '$(ARCH)'; run scripts/gen-vmlinux.sh on a $(ARCH) host with BTF" >&2; \
		exit 1; }

$(OUT):
	$(Q)mkdir -p $@

$(OUT)/%.bpf.o: bpf/%.bpf.c bpf/porthog.h $(wildcard bpf/*.bpf.h) | $(OUT) check-arch
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@
	$(Q)$(LLVM_STRIP) -g $@

$(OUT)/%.skel.h: $(OUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

$(OUT)/porthog_iter.bpf.o: bpf/porthog.bpf.c bpf/porthog.h | $(OUT) check-arch
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -DPH_ITER_ONLY -c $< -o $@
	$(Q)$(LLVM_STRIP) -g $@

$(OUT)/%.lskel.h: $(OUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton -L $< name $* > $@

$(OUT)/%.o: user/%.c $(wildcard user/*.h) bpf/porthog.h $(SKELS) | $(OUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(OUT)/porthog: $(USER_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

# test and benchmark workloads
$(OUT)/ph_server: tests/workloads/ph_server.c | $(OUT)
	$(call msg,CC,$@)
	$(Q)$(CC) -O2 -g -std=gnu11 -Wall -Wextra -Werror -pthread $< -o $@
$(OUT)/ph_client: tests/workloads/ph_client.c | $(OUT)
	$(call msg,CC,$@)
	$(Q)$(CC) -O2 -g -std=gnu11 -Wall -Wextra -Werror -pthread $< -o $@
$(OUT)/ph_ports: tests/workloads/ph_ports.c | $(OUT)
	$(call msg,CC,$@)
	$(Q)$(CC) -O2 -g -std=gnu11 -Wall -Wextra -Werror $< -o $@
$(OUT)/connstorm: bench/connstorm.c | $(OUT)
	$(call msg,CC,$@)
	$(Q)$(CC) -O2 -g -std=gnu11 -Wall -Wextra -Werror -pthread $< -o $@ -lm

# bench: the empty-program floor of the in-kernel cost
$(OUT)/floor.bpf.o: bench/floor.bpf.c | $(OUT) check-arch
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@
	$(Q)$(LLVM_STRIP) -g $@
$(OUT)/floor: bench/floor.c | $(OUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $< -lbpf -lelf -lz -o $@

$(OUT)/unit_tests: $(UNIT_SRCS) $(LIB_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -Itests/unit $(UNIT_SRCS) $(LIB_OBJS) $(LDLIBS) -o $@

# libFuzzer target for the trace file reader
FUZZ_SRCS	:= tests/fuzz/fuzz_tracefile.c $(filter-out user/main.c,$(USER_SRCS))
$(OUT)/fuzz_tracefile: $(FUZZ_SRCS) $(wildcard user/*.h) $(SKELS)
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) $(CPPFLAGS) -DPH_FUZZING -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		$(FUZZ_SRCS) $(LDLIBS) -o $@

vmlinux:
	scripts/gen-vmlinux.sh

deps:
	scripts/deps.sh

# Root is needed for BPF and network namespaces; without it, re-run through sudo.
AS_ROOT := $(shell if [ "$$(id -u)" = 0 ]; then echo; elif command -v sudo >/dev/null 2>&1; then echo sudo; else echo NOROOT; fi)
define need_root
	@if [ "$(AS_ROOT)" = NOROOT ]; then echo "porthog: '$(1)' needs root (and sudo is not installed)" >&2; exit 1; fi
endef

demo:
	$(call need_root,make demo)
	$(AS_ROOT) scripts/deps.sh
	$(MAKE) all $(WORKLOADS)
	$(AS_ROOT) scripts/demo.sh

test:
	$(call need_root,make test)
	$(AS_ROOT) scripts/deps.sh
	$(MAKE) all $(WORKLOADS) $(OUT)/unit_tests $(OUT)/fuzz_tracefile
	$(AS_ROOT) tests/run.sh

unit: $(OUT)/unit_tests
	$(OUT)/unit_tests

fuzz: $(OUT)/fuzz_tracefile
	$(OUT)/fuzz_tracefile -max_total_time=$${FUZZ_SECONDS:-300} -timeout=5 \
		-artifact_prefix=$(OUT)/ $(OUT)/fuzz-corpus tests/fuzz/corpus

bench:
	$(call need_root,make bench)
	$(AS_ROOT) scripts/deps.sh
	$(MAKE) all $(WORKLOADS) $(BENCH_TOOLS)
	$(AS_ROOT) bench/run.sh full

bench-quick:
	$(call need_root,make bench-quick)
	$(AS_ROOT) scripts/deps.sh
	$(MAKE) all $(WORKLOADS) $(BENCH_TOOLS)
	$(AS_ROOT) bench/run.sh quick

# The unit goes where systemd looks for it under PREFIX (/usr/local/lib/systemd/system,
# /usr/lib/systemd/system); its ExecStart names $(PREFIX)/sbin/porthog.
install: $(OUT)/porthog
	install -D -m 0755 $(OUT)/porthog $(DESTDIR)$(PREFIX)/sbin/porthog
	install -D -m 0644 docs/porthog.8 $(DESTDIR)$(PREFIX)/share/man/man8/porthog.8
	install -d -m 0755 $(DESTDIR)$(SYSTEMDUNITDIR)
	sed -e 's|^\(#* *ExecStart=\)/usr/local/sbin/porthog|\1$(PREFIX)/sbin/porthog|' \
		scripts/porthog.service > $(DESTDIR)$(SYSTEMDUNITDIR)/porthog.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/porthog.service
	install -D -m 0644 docs/alerts.yml $(DESTDIR)$(PREFIX)/share/doc/porthog/alerts.yml
	install -D -m 0644 deploy/grafana/porthog.json \
		$(DESTDIR)$(PREFIX)/share/doc/porthog/grafana-dashboard.json

# build/porthog_VERSION_ARCH.deb: dpkg-buildflags, dpkg-shlibdeps, dpkg-gencontrol, dpkg-deb
deb:
	scripts/mkdeb.sh

clean:
	rm -rf $(OUT)
