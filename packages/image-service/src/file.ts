/** Everything the file driver package exports, re-exported (importing this loads the driver and its dependencies). */
export * from '@image-service/file';
