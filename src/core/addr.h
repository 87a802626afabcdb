/*
 * addr: "HOST:PORT" and "[IPV6]:PORT" as typed on the command line. Pure.
 * The host is kept as text (a literal address or a name resolved at bind
 * time); the port must be 0..65535 (0 asks the kernel for a free port).
 */
#ifndef MAILSCOPE_CORE_ADDR_H
#define MAILSCOPE_CORE_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define ADDR_HOST_MAX 256

struct hostport {
	char host[ADDR_HOST_MAX];
	uint16_t port;
};

int addr_parse_hostport(const char *s, struct hostport *out, char *err, size_t errlen);
/* "127.0.0.1:1025" or "[::1]:1025" for a bound socket address. */
void addr_format_sockaddr(const struct sockaddr *sa, char *out, size_t outlen);
/* Just the address part, no port. */
void addr_format_ip(const struct sockaddr *sa, char *out, size_t outlen);
uint16_t addr_port(const struct sockaddr *sa);

#endif
