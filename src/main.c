/* main.c - placeholder until the subcommand table lands. */
#include <stdio.h>
int main(void) { puts("formd"); return 0; }
