// The Medusa v2 configuration of dropline's benchmark peer (copied into the scratch folder by
// bench/harness/medusa.py): PostgreSQL from DATABASE_URL, the Redis locking provider on
// REDIS_URL (its own db number), the admin dashboard off (it is not under test).
const { loadEnv, defineConfig } = require("@medusajs/framework/utils")
loadEnv(process.env.NODE_ENV || "development", process.cwd())
module.exports = defineConfig({
  projectConfig: {
    databaseUrl: process.env.DATABASE_URL,
    redisUrl: process.env.REDIS_URL,
    workerMode: "shared",
    http: {
      storeCors: "*",
      adminCors: "*",
      authCors: "*",
      jwtSecret: "bench-jwt-secret",
      cookieSecret: "bench-cookie-secret",
    },
  },
  admin: { disable: true },
  modules: [
    {
      resolve: "@medusajs/medusa/locking",
      options: {
        providers: [
          {
            resolve: "@medusajs/medusa/locking-redis",
            id: "locking-redis",
            is_default: true,
            options: { redisUrl: process.env.REDIS_URL },
          },
        ],
      },
    },
  ],
})
