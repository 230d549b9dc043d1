/* A Maelstrom lin-kv node in C, one register per key 0..63, kept in memory: enough to show that a
   static Linux binary runs in the node image as it is. It reads the few fields it needs with sscanf. */
#include <stdio.h>
#include <string.h>

static long long kv[64];
static int has[64];
static char me[16] = "n0";

static long long field(const char *line, const char *name, int *found) {
    const char *p = strstr(line, name);
    long long v = 0;
    *found = p != NULL && sscanf(p + strlen(name), " : %lld", &v) == 1;
    return v;
}

int main(void) {
    static char line[1 << 16], src[64];
    long long next = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    while (fgets(line, sizeof line, stdin)) {
        int ok_id, ok_key, ok_val;
        long long id = field(line, "\"msg_id\"", &ok_id);
        const char *s = strstr(line, "\"src\"");
        if (s) sscanf(s, "\"src\" : \"%63[^\"]\"", src);  /* a blank in the format also matches none */
        if (strstr(line, "\"init\"")) {
            const char *n = strstr(line, "\"node_id\"");
            if (n) sscanf(n, "\"node_id\"%*[ :]\"%15[^\"]\"", me);
            printf("{\"src\":\"%s\",\"dest\":\"%s\",\"body\":{\"type\":\"init_ok\",\"in_reply_to\":%lld,\"msg_id\":%lld}}\n",
                   me, src, id, ++next);
            continue;
        }
        long long key = field(line, "\"key\"", &ok_key);
        if (!ok_key || key < 0 || key >= 64) continue;
        if (strstr(line, "\"write\"")) {
            long long value = field(line, "\"value\"", &ok_val);
            kv[key] = value; has[key] = 1;
            printf("{\"src\":\"%s\",\"dest\":\"%s\",\"body\":{\"type\":\"write_ok\",\"in_reply_to\":%lld,\"msg_id\":%lld}}\n",
                   me, src, id, ++next);
        } else if (strstr(line, "\"read\"") && has[key]) {
            printf("{\"src\":\"%s\",\"dest\":\"%s\",\"body\":{\"type\":\"read_ok\",\"value\":%lld,\"in_reply_to\":%lld,\"msg_id\":%lld}}\n",
                   me, src, kv[key], id, ++next);
        } else {
            printf("{\"src\":\"%s\",\"dest\":\"%s\",\"body\":{\"type\":\"error\",\"code\":%d,\"in_reply_to\":%lld,\"msg_id\":%lld}}\n",
                   me, src, strstr(line, "\"read\"") ? 20 : 10, id, ++next);
        }
    }
    return 0;
}
