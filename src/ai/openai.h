/*
 * openai.h - the openai provider's one setting beyond its config string.
 *
 * The provider itself is ai_openai_provider (provider.h). Its config string,
 * given to ai_open, is
 *
 *     BASE_URL[|MODEL][|API_KEY_FILE]
 *
 *   BASE_URL      http(s)://host[:port][/path], as OpenAI's own clients take
 *                 it: requests go to BASE_URL/chat/completions when it has a
 *                 path (".../v1"; formd's own endpoint is ".../v1/ai"), and to
 *                 BASE_URL/v1/chat/completions when it is a bare server root.
 *                 No credentials in it.
 *   MODEL         the "model" member of each request; "default" when empty
 *                 (llama.cpp's server ignores it; Ollama and vLLM need it).
 *   API_KEY_FILE  a file whose content (surrounding white space trimmed) is
 *                 sent as "Authorization: Bearer KEY"; read once at open, so
 *                 the key never appears on a command line or in a config dump.
 *
 * For example "http://10.0.0.5:8080", "http://ollama:11434/v1|llama3.2:1b",
 * "https://llm.example/v1|qwen2.5-7b|/run/secrets/llm_key" or another formd,
 * "http://formd-ai:8080/v1/ai||/run/secrets/formd_key".
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
