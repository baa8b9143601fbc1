// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * porthog serve: Prometheus exporter.
 *
 * The main thread runs the live loop and, after each tick, renders the whole
 * /metrics text (both formats) into a new snapshot that it swaps in under a
 * mutex. libmicrohttpd's single polling thread serves scrapes from a reference
 * to the current snapshot: a scrape never touches the accounting engine and
 * never blocks event processing for longer than a pointer swap.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "diagnose.h"
#include "live.h"
#include "metrics.h"
#include "procinfo.h"

#define DEFAULT_LISTEN		"127.0.0.1:9873"
#define HTTP_MEMORY_LIMIT	(32 * 1024)	/* per connection: request headers must fit */
#define HTTP_BLOCK		(16 * 1024)
#define LISTEN_BACKLOG		128

struct serve_env {
	struct ph_live_opts live;
	struct ph_proc_filter filter;
	const char *listen;
	bool allow_remote;
	double interval;
	double duration;
	long max_series;
	long http_timeout;
	long http_max_conns;
	long http_max_per_ip;
	struct sockaddr_storage addr;
	socklen_t addr_len;
};

static const char doc[] =
"Prometheus exporter of the live port accounting, at http://ADDR:PORT/metrics.\n"
"The state is rendered once per --interval; scrapes only send that text and\n"
"never slow down event processing. The top --max-series processes (by ports\n"
"held) and destinations (failing first, then by ports in use) get their own\n"
"series; the rest are summed into one series labelled \"other\", whose\n"
"counters only grow (they add up what happened outside the top). A process\n"
"that has exited and holds no port drops out at the next refresh.\n"
"Text format 0.0.4, or OpenMetrics 1.0.0 when the Accept header prefers it.\n"
"\v"
"EXAMPLES:\n"
"  porthog serve\n"
"  porthog serve --listen [::1]:9873 --max-series 100\n"
"  porthog serve --listen 0.0.0.0:9873 --allow-remote\n"
"  curl -s http://127.0.0.1:9873/metrics | grep headroom\n\n"
"Alerting rules: docs/alerts.yml. systemd unit: scripts/porthog.service.\n\n"
PH_EXIT_CODES_HELP;

enum {
	OPT_ALLOW_REMOTE = 0x2000,
	OPT_MAX_SERIES,
	OPT_HTTP_TIMEOUT,
	OPT_HTTP_MAX_CONNS,
	OPT_HTTP_MAX_PER_IP,
};

static const struct argp_option options[] = {
	{ "listen", 'l', "ADDR:PORT", 0, "Address to serve on (default " DEFAULT_LISTEN "); [::1]:PORT for IPv6, port 0 picks a free one", 0 },
	{ "allow-remote", OPT_ALLOW_REMOTE, NULL, 0, "Allow --listen on a non-loopback address (the metrics name processes and peers)", 0 },
	{ "interval", 'i', "SECONDS", 0, "Refresh the metrics this often (default 1)", 0 },
	{ "duration", 'd', "SECONDS", 0, "Stop after this long (default: until SIGINT/SIGTERM)", 0 },
	{ "max-series", OPT_MAX_SERIES, "N", 0, "Series of their own per kind: processes, destinations, namespaces (default 50)", 0 },
	{ "http-timeout", OPT_HTTP_TIMEOUT, "SECONDS", 0, "A request must arrive complete, and an idle connection is closed, within this (default 10)", 0 },
	{ "http-max-connections", OPT_HTTP_MAX_CONNS, "N", 0, "Concurrent HTTP connections (default 64)", 0 },
	{ "http-max-per-ip", OPT_HTTP_MAX_PER_IP, "N", 0, "Concurrent HTTP connections per client address (default 16)", 0 },
	{},
};

/* "ADDR:PORT", "[ADDR6]:PORT", "localhost:PORT" or just "PORT" (loopback). */
static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	char host[INET6_ADDRSTRLEN + 1];
	const char *port_s, *end;
	bool v6 = false;
	size_t hl;
	long port;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		end = strchr(s, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		hl = end - s - 1;
		port_s = end + 2;
		s++;
		v6 = true;
	} else {
		end = strrchr(s, ':');
		if (!end) {
			/* a bare port */
			hl = 0;
			port_s = s;
		} else {
			hl = end - s;
			port_s = end + 1;
			if (!hl || memchr(s, ':', hl))
				return -EINVAL;	/* IPv6 needs brackets */
		}
	}
	if (hl >= sizeof(host) || parse_long(port_s, 0, 65535, &port))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (!hl || (!v6 && !strcmp(host, "localhost")))
		strcpy(host, "127.0.0.1");
	if (!v6 && inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		*len = sizeof(*in4);
		return 0;
	}
	if (v6 && inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*len = sizeof(*in6);
		return 0;
	}
	return -EINVAL;
}

static bool is_loopback(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in *in4 = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

	if (ss->ss_family == AF_INET)
		return (ntohl(in4->sin_addr.s_addr) >> 24) == 127;
	if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
		return true;
	return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127;
}

static void fmt_sockaddr(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
		snprintf(buf, len, "[%s]:%u", a, ntohs(in6->sin6_port));
	} else {
		const struct sockaddr_in *in4 = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &in4->sin_addr, a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, ntohs(in4->sin_port));
	}
}

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	struct serve_env *env = state->input;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = &env->live;
		state->child_inputs[1] = &env->filter;
		break;
	case 'l':
		if (parse_listen(arg, &env->addr, &env->addr_len))
			argp_error(state, "invalid --listen '%s' (ADDR:PORT or [ADDR6]:PORT)", arg);
		env->listen = arg;
		break;
	case OPT_ALLOW_REMOTE:
		env->allow_remote = true;
		break;
	case 'i':
		if (parse_double(arg, 0.05, 86400, &env->interval))
			argp_error(state, "invalid --interval '%s'", arg);
		break;
	case 'd':
		if (parse_double(arg, 0.001, 1e9, &env->duration))
			argp_error(state, "invalid --duration '%s'", arg);
		break;
	case OPT_MAX_SERIES:
		if (parse_long(arg, 1, 10000, &env->max_series))
			argp_error(state, "invalid --max-series '%s' (1..10000)", arg);
		break;
	case OPT_HTTP_TIMEOUT:
		if (parse_long(arg, 1, 3600, &env->http_timeout))
			argp_error(state, "invalid --http-timeout '%s' (1..3600 seconds)", arg);
		break;
	case OPT_HTTP_MAX_CONNS:
		if (parse_long(arg, 1, 4096, &env->http_max_conns))
			argp_error(state, "invalid --http-max-connections '%s' (1..4096)", arg);
		break;
	case OPT_HTTP_MAX_PER_IP:
		if (parse_long(arg, 1, 4096, &env->http_max_per_ip))
			argp_error(state, "invalid --http-max-per-ip '%s' (1..4096)", arg);
		break;
	case ARGP_KEY_ARG:
		argp_error(state, "unexpected argument '%s'", arg);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp argp = {
	.options = options,
	.parser = parse_arg,
	.doc = doc,
	.children = ph_view_children,
};

/* One rendering of /metrics in both formats; refs protected by server.lock. */
struct snap {
	unsigned refs;
	char *buf[2];
	size_t len[2];
};

/* Per TCP connection: a dup of its socket, to cut off slow request headers. */
struct conn {
	struct conn *next, *prev;
	int fd;
	__u64 deadline_ns;	/* 0: a request is being answered */
	bool shut;
};

struct server {
	pthread_mutex_t lock;		/* cur and refs */
	struct snap *cur;
	__u64 scrapes;			/* atomic */
	pthread_mutex_t conn_lock;	/* conns */
	struct conn conns;		/* list head */
	__u64 timeout_ns;
	struct MHD_Daemon *mhd;
};

static void snap_free(struct snap *s)
{
	free(s->buf[0]);
	free(s->buf[1]);
	free(s);
}

static struct snap *snap_get(struct server *srv)
{
	struct snap *s;

	pthread_mutex_lock(&srv->lock);
	s = srv->cur;
	if (s)
		s->refs++;
	pthread_mutex_unlock(&srv->lock);
	return s;
}

static void snap_put(struct server *srv, struct snap *s)
{
	bool last;

	if (!s)
		return;
	pthread_mutex_lock(&srv->lock);
	last = !--s->refs;
	pthread_mutex_unlock(&srv->lock);
	if (last)
		snap_free(s);
}

/* Render the last update and swap it in. The old one lives on while scraped. */
static int publish(struct server *srv, struct ph_metrics *m)
{
	struct snap *s = calloc(1, sizeof(*s)), *old;
	int err;

	if (!s)
		return -ENOMEM;
	s->refs = 1;
	err = ph_metrics_render(m, PH_FMT_PROM, &s->buf[PH_FMT_PROM], &s->len[PH_FMT_PROM]);
	if (!err)
		err = ph_metrics_render(m, PH_FMT_OPENMETRICS, &s->buf[PH_FMT_OPENMETRICS],
					&s->len[PH_FMT_OPENMETRICS]);
	if (err) {
		snap_free(s);
		return err;
	}
	pthread_mutex_lock(&srv->lock);
	old = srv->cur;
	srv->cur = s;
	pthread_mutex_unlock(&srv->lock);
	snap_put(srv, old);
	return 0;
}

/* A /metrics response body: the snapshot, then the scrape counter. */
struct body {
	struct server *srv;
	struct snap *snap;
	const char *text;
	size_t len, tail_len;
	char tail[256];
};

static ssize_t body_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct body *b = cls;
	size_t n;

	if (pos < b->len) {
		n = b->len - pos < max ? b->len - pos : max;
		memcpy(buf, b->text + pos, n);
		return n;
	}
	pos -= b->len;
	if (pos >= b->tail_len)
		return MHD_CONTENT_READER_END_OF_STREAM;
	n = b->tail_len - pos < max ? b->tail_len - pos : max;
	memcpy(buf, b->tail + pos, n);
	return n;
}

static void body_free(void *cls)
{
	struct body *b = cls;

	snap_put(b->srv, b->snap);
	free(b);
}

static const char index_html[] =
"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>porthog</title></head>\n"
"<body><h1>porthog</h1>\n<p>Who uses up the outbound TCP ephemeral ports.</p>\n"
"<p><a href=\"/metrics\">Metrics</a></p></body></html>\n";

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *ctype,
			     const char *text, const char *allow)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_metrics(struct server *srv, struct MHD_Connection *c)
{
	const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
	enum ph_metrics_fmt fmt = ph_accept_openmetrics(accept) ? PH_FMT_OPENMETRICS : PH_FMT_PROM;
	struct MHD_Response *r;
	enum MHD_Result ret;
	struct body *b;

	b = calloc(1, sizeof(*b));
	if (!b)
		return MHD_NO;
	b->srv = srv;
	b->snap = snap_get(srv);
	if (!b->snap) {
		free(b);
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8",
			     "porthog: no metrics yet\n", NULL);
	}
	b->text = b->snap->buf[fmt];
	b->len = b->snap->len[fmt];
	b->tail_len = ph_metrics_render_tail(fmt, __atomic_add_fetch(&srv->scrapes, 1,
								     __ATOMIC_RELAXED),
					     b->tail, sizeof(b->tail));
	r = MHD_create_response_from_callback(b->len + b->tail_len, HTTP_BLOCK, body_read, b,
					      body_free);
	if (!r) {
		body_free(b);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				fmt == PH_FMT_OPENMETRICS ? PH_CT_OPENMETRICS : PH_CT_PROM);
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static struct conn *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

static void conn_deadline(struct server *srv, struct MHD_Connection *c, __u64 deadline)
{
	struct conn *cn = conn_of(c);

	if (!cn)
		return;
	pthread_mutex_lock(&srv->conn_lock);
	cn->deadline_ns = deadline;
	pthread_mutex_unlock(&srv->conn_lock);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size, void **req_cls)
{
	static int seen;	/* req_cls marker: headers were checked */
	struct server *srv = cls;
	const char *cl, *te;

	/*
	 * Refusals go out at once, before any body is read: libmicrohttpd then
	 * closes the connection. Good requests are answered on the second call,
	 * which keeps the connection alive for the next scrape.
	 */
	if (!*req_cls) {
		/* headers are complete: the slow-header deadline no longer applies */
		conn_deadline(srv, c, 0);
		if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
			return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8",
				     "porthog: only GET and HEAD\n", "GET, HEAD");
		cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		te = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						 MHD_HTTP_HEADER_TRANSFER_ENCODING);
		if (te || (cl && strcmp(cl, "0")))
			return reply(c, MHD_HTTP_BAD_REQUEST, "text/plain; charset=utf-8",
				     "porthog: request bodies are not accepted\n", NULL);
		*req_cls = &seen;
		return MHD_YES;
	}
	if (*upload_data_size)
		return reply(c, MHD_HTTP_BAD_REQUEST, "text/plain; charset=utf-8",
			     "porthog: request bodies are not accepted\n", NULL);
	if (!strcmp(url, "/metrics"))
		return reply_metrics(srv, c);
	if (!strcmp(url, "/"))
		return reply(c, MHD_HTTP_OK, "text/html; charset=utf-8", index_html, NULL);
	return reply(c, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8",
		     "porthog: not found; try /metrics\n", NULL);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct server *srv = cls;

	/* keep-alive: the next request gets the same time to arrive */
	conn_deadline(srv, c, mono_ns() + srv->timeout_ns);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct server *srv = cls;
	const union MHD_ConnectionInfo *ci;
	struct conn *cn;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		cn = calloc(1, sizeof(*cn));
		if (!cn || !ci)
			goto fail;
		/* our own reference to the socket: shutdown() on it is always safe */
		cn->fd = fcntl(ci->connect_fd, F_DUPFD_CLOEXEC, 0);
		if (cn->fd < 0)
			goto fail;
		cn->deadline_ns = mono_ns() + srv->timeout_ns;
		pthread_mutex_lock(&srv->conn_lock);
		cn->next = srv->conns.next;
		cn->prev = &srv->conns;
		cn->next->prev = cn;
		srv->conns.next = cn;
		pthread_mutex_unlock(&srv->conn_lock);
		*socket_context = cn;
		return;
fail:
		free(cn);
		*socket_context = NULL;
		return;
	}
	cn = *socket_context;
	if (!cn)
		return;
	pthread_mutex_lock(&srv->conn_lock);
	cn->prev->next = cn->next;
	cn->next->prev = cn->prev;
	pthread_mutex_unlock(&srv->conn_lock);
	close(cn->fd);
	free(cn);
	*socket_context = NULL;
}

/*
 * libmicrohttpd's timeout is for inactivity: a client that sends one header
 * byte now and then would hold its connection forever. Cut off connections
 * whose request did not arrive complete within the timeout.
 */
static void reap_slow(struct server *srv)
{
	__u64 now = mono_ns();

	pthread_mutex_lock(&srv->conn_lock);
	for (struct conn *cn = srv->conns.next; cn != &srv->conns; cn = cn->next) {
		if (cn->shut || !cn->deadline_ns || now < cn->deadline_ns)
			continue;
		shutdown(cn->fd, SHUT_RDWR);
		cn->shut = true;
	}
	pthread_mutex_unlock(&srv->conn_lock);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[256];
	size_t n;

	if (!ph_verbose)
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	ph_info("http: %s", buf);
}

static int open_listener(const struct serve_env *env, struct sockaddr_storage *bound)
{
	socklen_t len = sizeof(*bound);
	int fd, one = 1;

	fd = socket(env->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&env->addr, env->addr_len) ||
	    listen(fd, LISTEN_BACKLOG) ||
	    getsockname(fd, (struct sockaddr *)bound, &len)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int start_http(struct server *srv, const struct serve_env *env, int fd)
{
	sigset_t block, old;

	/* signals go to the main thread, which then stops the daemon */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	srv->mhd = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0,
				    NULL, NULL, on_request, srv,
				    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
				    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)env->http_max_conns,
				    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)env->http_max_per_ip,
				    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)env->http_timeout,
				    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_MEMORY_LIMIT,
				    /* e.g. HTTP/1.1 without Host: 400 */
				    MHD_OPTION_STRICT_FOR_CLIENT, (int)1,
				    MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
				    MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
				    MHD_OPTION_END);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return srv->mhd ? 0 : -EIO;
}

static int update(struct server *srv, struct ph_metrics *m, struct ph_live *l)
{
	struct ph_metrics_info info = {
		.attach_mode = ph_live_attach_desc(l),
		.snapshot = l->snap == PH_SNAP_DIAG ? "diag" : "iter",
		.ts = wall_now(),
	};
	struct ph_losses lo;
	int err;

	ph_live_losses(l, &lo);
	info.lost_events = lo.ringbuf;
	info.skipped_events = lo.skipped;
	ph_acct_tick(l->acct, mono_ns());
	err = ph_metrics_update(m, l->acct, &info);
	if (!err)
		err = publish(srv, m);
	return err;
}

int cmd_serve(int argc, char **argv)
{
	struct serve_env env = {
		.interval = 1,
		.max_series = 50,
		.http_timeout = 10,
		.http_max_conns = 64,
		.http_max_per_ip = 16,
	};
	struct server srv = {
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.conn_lock = PTHREAD_MUTEX_INITIALIZER,
	};
	struct ph_metrics_opts mo = {};
	struct ph_diag_opts dopts;
	struct ph_metrics *m = NULL;
	struct sockaddr_storage bound;
	bool live_open = false, warned = false;
	char where[INET6_ADDRSTRLEN + 16];
	__u64 end = 0;
	int fd = -1, err;
	struct ph_live l;

	ph_live_opts_init(&env.live);
	err = ph_argp_parse(&argp, argc, argv, &env);
	if (err)
		return err;
	if (!env.listen) {
		env.listen = DEFAULT_LISTEN;
		parse_listen(env.listen, &env.addr, &env.addr_len);
	}
	if (!env.allow_remote && !is_loopback(&env.addr)) {
		ph_err("--listen %s is not a loopback address; add --allow-remote to serve other hosts",
		       env.listen);
		return PH_EXIT_USAGE;
	}
	srv.conns.next = srv.conns.prev = &srv.conns;
	srv.timeout_ns = (__u64)env.http_timeout * 1000000000ULL;

	/* fail on a taken port before loading any BPF */
	fd = open_listener(&env, &bound);
	if (fd < 0) {
		ph_err("cannot listen on %s: %s", env.listen, strerror(-fd));
		return PH_EXIT_ERR;
	}
	mo.max_series = env.max_series;
	mo.pid = env.live.probe.pid;
	mo.netns = env.live.probe.netns;
	mo.filter = env.filter;
	mo.proc_alive = ph_proc_alive;	/* exited processes drop out at once */
	ph_diag_opts_init(&dopts);
	mo.diag = &dopts;
	m = ph_metrics_new(&mo);
	if (!m) {
		ph_err("out of memory");
		err = PH_EXIT_ERR;
		goto cleanup;
	}
	live_open = true;	/* ph_live_close() undoes a partial open too */
	err = ph_live_open(&l, &env.live, NULL, NULL);
	if (err)
		goto cleanup;
	install_exit_signals();
	if (env.duration > 0)
		end = mono_ns() + (__u64)(env.duration * 1e9);

	/* the first scrape already has data */
	err = update(&srv, m, &l);
	if (err) {
		ph_err("rendering metrics: %s", strerror(-err));
		err = PH_EXIT_ERR;
		goto cleanup;
	}
	if (start_http(&srv, &env, fd)) {
		ph_err("cannot start the HTTP server on %s", env.listen);
		err = PH_EXIT_ERR;
		goto cleanup;
	}
	fd = -1;	/* the daemon owns it now */
	fmt_sockaddr(&bound, where, sizeof(where));
	ph_info("serving metrics on http://%s/metrics", where);

	while (!ph_exiting && !(end && mono_ns() >= end)) {
		__u64 deadline = mono_ns() + (__u64)(env.interval * 1e9);

		if (end && deadline > end)
			deadline = end;
		while (!ph_exiting && mono_ns() < deadline) {
			__u64 slice = mono_ns() + 100000000ULL;

			err = ph_live_run_until(&l, slice < deadline ? slice : deadline);
			if (err) {
				ph_err("reading events: %s", strerror(-err));
				err = PH_EXIT_ERR;
				goto cleanup;
			}
			reap_slow(&srv);
		}
		err = update(&srv, m, &l);
		if (err && !warned) {
			/* keep serving the last good rendering */
			ph_warn("rendering metrics: %s", strerror(-err));
			warned = true;
		}
	}
	err = PH_EXIT_OK;
cleanup:
	if (srv.mhd)
		MHD_stop_daemon(srv.mhd);
	if (fd >= 0)
		close(fd);
	snap_put(&srv, srv.cur);
	if (live_open)
		ph_live_close(&l);
	ph_metrics_free(m);
	return err;
}
