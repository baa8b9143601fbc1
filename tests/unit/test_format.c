// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Address formatting, JSON escaping, argument parsing, event lines. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "event.h"
#include "json.h"
#include "probe.h"
#include "textesc.h"

static char *capture(void (*fn)(FILE *, const void *), const void *arg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	fn(f, arg);
	fclose(f);
	return buf;
}

static void put_str(FILE *f, const void *s)
{
	json_str(f, s);
}

UNIT_TEST(json_escaping)
{
	char *s;
	char buf[64];

	s = capture(put_str, "a\"b\\c\n\t\x01\x7f\xc3\xa9");
	CHECK_EQ_STR(s, "\"a\\\"b\\\\c\\n\\t\\u0001\\u007f\xc3\xa9\"");
	free(s);
	/* bytes that are not UTF-8 as \udcXX (surrogateescape), C1 and bidi as \u */
	s = capture(put_str, "\x1b]0;\x07\xff\xc3(\xc2\x9b\xe2\x80\xae\xf0\x9f\x98\x80");
	CHECK_EQ_STR(s, "\"\\u001b]0;\\u0007\\udcff\\udcc3(\\u009b\\u202e\xf0\x9f\x98\x80\"");
	free(s);
	s = capture(put_str, "");
	CHECK_EQ_STR(s, "\"\"");
	free(s);
	CHECK_EQ_INT(json_escape(buf, sizeof(buf), "x\"y"), 4);
	CHECK_EQ_STR(buf, "x\\\"y");
	/* truncation keeps the buffer terminated */
	CHECK_EQ_INT(json_escape(buf, 3, "abcdef"), 6);
	CHECK_EQ_STR(buf, "ab");
}

UNIT_TEST(text_escaping)
{
	char buf[PH_TX_SIZE(64)], small[8], tiny[6];

	/* the reproducer: OSC title, clear screen, colour, newline */
	CHECK_EQ_STR(PH_TX(buf, "\x1b]0;pwned\x07\x1b[2J\x1b[31mRED\nline2"),
		     "\\x1b]0;pwned\\x07\\x1b[2J\\x1b[31mRED\\nline2");
	CHECK_EQ_STR(PH_TX(buf, "a\tb\rc\\d\x7f"), "a\\tb\\rc\\\\d\\x7f");
	/* valid UTF-8 stays; bad bytes, C1 controls and bidi overrides do not */
	CHECK_EQ_STR(PH_TX(buf, "caf\xc3\xa9 \xf0\x9f\x98\x80"), "caf\xc3\xa9 \xf0\x9f\x98\x80");
	CHECK_EQ_STR(PH_TX(buf, "\xff\xc3(\xc0\xaf\xed\xa0\x80"),
		     "\\xff\\xc3(\\xc0\\xaf\\xed\\xa0\\x80");
	CHECK_EQ_STR(PH_TX(buf, "\xc2\x9b\xe2\x80\xae\xe2\x80\xa8"), "\\u009b\\u202e\\u2028");
	CHECK_EQ_STR(PH_TX(buf, "<b>&</b>"), "<b>&</b>");
	/* a 16-byte comm with no NUL, and a name cut inside a character */
	CHECK_EQ_STR(ph_tx(buf, sizeof(buf), "0123456789abcdefXYZ", 16), "0123456789abcdef");
	CHECK_EQ_STR(ph_tx(buf, sizeof(buf), "ab\xe2\x82\xac", 4), "ab\\xe2\\x82");
	/* a small buffer is cut at a whole escape and stays terminated */
	CHECK_EQ_STR(PH_TX(tiny, "ab\x1b"), "ab");
	CHECK_EQ_STR(PH_TX(small, "abc\x1b"), "abc\\x1b");
	CHECK_EQ_STR(PH_TX(buf, NULL), "");
	CHECK_EQ_STR(ph_tx(buf, 1, "abc", 3), "");
}

UNIT_TEST(address_formatting)
{
	__u8 a[16] = {}, fam;
	char buf[PH_EP_STRLEN];

	CHECK_EQ_INT(ph_addr_parse("10.1.2.3", &fam, a), 0);
	CHECK_EQ_INT(fam, AF_INET);
	ph_endpoint_fmt(fam, a, 5672, buf, sizeof(buf));
	CHECK_EQ_STR(buf, "10.1.2.3:5672");
	CHECK_EQ_INT(ph_addr_parse("2001:db8::1", &fam, a), 0);
	CHECK_EQ_INT(fam, AF_INET6);
	ph_endpoint_fmt(fam, a, 443, buf, sizeof(buf));
	CHECK_EQ_STR(buf, "[2001:db8::1]:443");
	ph_addr_fmt(AF_INET6, a, buf, sizeof(buf));
	CHECK_EQ_STR(buf, "2001:db8::1");
	CHECK(ph_addr_parse("300.1.1.1", &fam, a) < 0);
	CHECK(ph_addr_parse("", &fam, a) < 0);
}

UNIT_TEST(names)
{
	char b[16];

	CHECK_EQ_STR(ph_errname(99, b, sizeof(b)), "EADDRNOTAVAIL");
	CHECK_EQ_STR(ph_errname(4242, b, sizeof(b)), "E4242");
	CHECK_EQ_STR(ph_tcp_state_name(6), "TIME_WAIT");
	CHECK_EQ_STR(ph_tcp_state_name(200), "UNKNOWN");
	CHECK_EQ_STR(ph_event_type_name(PH_EV_CONNECT_FAILED), "connect_failed");
	CHECK_EQ_STR(ph_family_name(AF_INET6), "ipv6");
}

UNIT_TEST(argument_parsing)
{
	enum ph_backend b;
	double d;
	long v;

	CHECK_EQ_INT(parse_long("1234", 1, 0x7fffffff, &v), 0);
	CHECK_EQ_INT(v, 1234);
	CHECK(parse_long("0", 1, 10, &v) < 0);
	CHECK(parse_long("11", 1, 10, &v) < 0);
	CHECK(parse_long("12abc", 1, 100, &v) < 0);
	CHECK(parse_long("", 1, 100, &v) < 0);
	CHECK(parse_long("99999999999999999999999", 1, 100, &v) < 0);
	CHECK_EQ_INT(parse_double("0.5", 0.05, 10, &d), 0);
	CHECK(d == 0.5);
	CHECK(parse_double("nan", 0, 10, &d) < 0);
	CHECK(parse_double("inf", 0, 1e9, &d) < 0);
	CHECK(parse_double("-1", 0, 10, &d) < 0);
	CHECK_EQ_INT(ph_backend_parse("tracepoint", &b), 0);
	CHECK_EQ_INT(b, PH_BACKEND_TRACEPOINT);
	CHECK_EQ_INT(ph_backend_parse("auto", &b), 0);
	CHECK_EQ_INT(b, PH_BACKEND_NONE);
	CHECK(ph_backend_parse("fexit", &b) < 0);
}

static void put_event(FILE *f, const void *e)
{
	ph_event_print_json(f, e, 1000000000LL);
}

UNIT_TEST(event_json_line)
{
	struct ph_event e = {
		.ts_ns = 500000000, .pid = 42, .tid = 43, .uid = 1000, .netns = 7,
		.cgroup_id = 99, .type = PH_EV_CONNECT_FAILED, .family = AF_INET,
		.err = 99, .dport = 5672,
	};
	char *s;

	inet_pton(AF_INET, "10.0.0.1", e.saddr);
	inet_pton(AF_INET, "10.0.0.2", e.daddr);
	memcpy(e.comm, "we\"b", 5);
	s = capture(put_event, &e);
	CHECK_EQ_STR(s, "{\"ts\":1.500000,\"event\":\"connect_failed\",\"pid\":42,\"tid\":43,"
		     "\"comm\":\"we\\\"b\",\"uid\":1000,\"cgroup_id\":99,\"netns\":7,"
		     "\"family\":\"ipv4\",\"saddr\":\"10.0.0.1\",\"sport\":0,"
		     "\"daddr\":\"10.0.0.2\",\"dport\":5672,\"protocol\":\"tcp\",\"errno\":99,"
		     "\"errname\":\"EADDRNOTAVAIL\",\"errno_source\":\"kernel\"}\n");
	free(s);
}
