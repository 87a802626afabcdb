/*
 * msg_rfc2047: the work-around for GMime 3.2.13's decoding of adjacent B
 * ("base64") encoded words (GMime issue #133), shared by msg_summary and
 * msg_inspect. Private to src/msg. Pure: a string in, a string out.
 *
 * GMime 3.2.13 (Debian 12) merges adjacent encoded words of one charset
 * before decoding them, and its base64 decoder stops at the padding of the
 * first: "=?UTF-8?B?SGVsbG8=?= =?UTF-8?B?IHdvcmxk?=" decodes as "Hello"
 * (fixed upstream later). Thunderbird, Python and others pad every word,
 * and Outlook splits long filenames over several, so values came out cut
 * short. Before GMime sees a value, its B words are rewritten here as Q
 * words of the same bytes, which GMime merges and decodes correctly.
 *
 * Two ways of doing it, kept as they were when the two callers had their
 * own copies (they differ only on unusual input, see msg_rfc2047.c); both
 * return NULL when value has no B word (then use value as it is), else a
 * copy the caller frees.
 */
#ifndef MAILSCOPE_MSG_RFC2047_H
#define MAILSCOPE_MSG_RFC2047_H

/* Each run of adjacent B words of one charset becomes one Q word (msg_inspect). */
char *msg_rfc2047_b_runs_to_q(const char *value);
/* Each B word becomes one Q word; base64 left over at a word's end goes on into the next word (msg_summary). */
char *msg_rfc2047_b_words_to_q(const char *value);

#endif
