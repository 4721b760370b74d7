/* h5drop.c - test tool: delete one object (dataset or group) from an HDF5 file in place, to
 * build "missing dataset" inputs for the fault suite. Usage: h5drop FILE PATH */
#include <hdf5.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: h5drop FILE OBJECT_PATH\n");
        return 64;
    }
    hid_t f = H5Fopen(argv[1], H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0) return 66;
    int rc = H5Ldelete(f, argv[2], H5P_DEFAULT) < 0 ? 65 : 0;
    H5Fclose(f);
    return rc;
}
