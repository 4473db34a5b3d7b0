export * from 'vm';
