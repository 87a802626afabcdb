/* base64: the one piece of base64 the project decodes by hand. */
#ifndef MAILSCOPE_CORE_BASE64_H
#define MAILSCOPE_CORE_BASE64_H

/* The 6-bit value of a symbol of the standard alphabet (RFC 4648 section 4), or -1. */
static inline int base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

#endif
