/*
 * openai.h - the openai provider's one setting beyond its config string.
 *
 * The provider itself is ai_openai_provider (provider.h). Its config string,
 * given to ai_open, is
 *
 *     BASE_URL[|MODEL][|API_KEY_FILE]
 *
 *   BASE_URL      http(s)://host[:port][/prefix], the server's root or its
 *                 /v1: requests go to BASE_URL/v1/chat/completions (no second
 *                 /v1 when BASE_URL ends with one). No credentials in it.
 *   MODEL         the "model" member of each request; "default" when empty
 *                 (llama.cpp's server ignores it; Ollama and vLLM need it).
 *   API_KEY_FILE  a file whose content (surrounding white space trimmed) is
 *                 sent as "Authorization: Bearer KEY"; read once at open, so
 *                 the key never appears on a command line or in a config dump.
 *
 * For example "http://10.0.0.5:8080", "http://ollama:11434|llama3.2:1b" or
 * "https://llm.example|qwen2.5-7b|/run/secrets/llm_key".
 */
#ifndef FMD_AI_OPENAI_H
#define FMD_AI_OPENAI_H

/*
 * Lets the provider reach loopback, private, shared and link-local
 * addresses (formd sets it from --allow-private-targets); off by default.
 * Process-wide, read at every request, safe to call at any time.
 */
void ai_openai_allow_private(int allow);

#endif
