/* addr: host:port parsing and socket address formatting. See addr.h. */
#include "core/addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int addr_parse_hostport(const char *s, struct hostport *out, char *err, size_t errlen)
{
	const char *host = s, *host_end, *port;
	if (*s == '[') {
		host = s + 1;
		host_end = strchr(host, ']');
		if (host_end == NULL || host_end[1] != ':') {
			snprintf(err, errlen, "'%s': expected [IPV6]:PORT", s);
			return -1;
		}
		port = host_end + 2;
	} else {
		host_end = strrchr(s, ':');
		if (host_end == NULL) {
			snprintf(err, errlen, "'%s': expected HOST:PORT", s);
			return -1;
		}
		if (memchr(s, ':', (size_t)(host_end - s)) != NULL) {
			snprintf(err, errlen, "'%s': write IPv6 addresses in brackets, as [::1]:1025", s);
			return -1;
		}
		port = host_end + 1;
	}
	size_t hlen = (size_t)(host_end - host);
	if (hlen == 0 || hlen >= ADDR_HOST_MAX) {
		snprintf(err, errlen, "'%s': missing or too long host", s);
		return -1;
	}
	char *end;
	long p = strtol(port, &end, 10);
	if (*port == '\0' || *end != '\0' || p < 0 || p > 65535) {
		snprintf(err, errlen, "'%s': port must be a number from 0 to 65535", s);
		return -1;
	}
	memcpy(out->host, host, hlen);
	out->host[hlen] = '\0';
	out->port = (uint16_t)p;
	return 0;
}

void addr_format_ip(const struct sockaddr *sa, char *out, size_t outlen)
{
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], out, (socklen_t)outlen);
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, out, (socklen_t)outlen);
	} else if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)outlen);
	} else {
		snprintf(out, outlen, "unknown");
	}
}

uint16_t addr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	return 0;
}

void addr_format_sockaddr(const struct sockaddr *sa, char *out, size_t outlen)
{
	char ip[INET6_ADDRSTRLEN];
	addr_format_ip(sa, ip, sizeof ip);
	if (sa->sa_family == AF_INET6 && strchr(ip, ':'))
		snprintf(out, outlen, "[%s]:%u", ip, addr_port(sa));
	else
		snprintf(out, outlen, "%s:%u", ip, addr_port(sa));
}
