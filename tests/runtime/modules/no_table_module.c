/* A shared object that is not a Tessera module: it has a function but no function table.
 * Loading it must fail with TS_EPROTO naming the missing symbol. */
int not_a_tessera_kernel(int x);

int not_a_tessera_kernel(int x)
{
    return x + 1;
}
