// Seeds a fresh Medusa v2 database for dropline's benchmark (run by bench/harness/medusa.py
// with `medusa exec seed.js`): a USD region paying through the system (manual) provider,
// one stock location with a flat shipping option, a publishable key, and one product per
// entry of SEED_PRODUCTS ({"name": units, ...}), each with one managed-inventory variant
// stocked with that many units. Writes the ids the load generator needs to SEED_OUT.
// Adapted from the seed script of Medusa's default starter (medusa-starter-default).
const fs = require("fs")
const { ContainerRegistrationKeys, Modules, ProductStatus } = require("@medusajs/framework/utils")
const cf = require("@medusajs/core-flows")

async function seed({ container }) {
  const products = JSON.parse(process.env.SEED_PRODUCTS || '{"bench": 1}')
  const link = container.resolve(ContainerRegistrationKeys.LINK)
  const query = container.resolve(ContainerRegistrationKeys.QUERY)
  const fulfillment = container.resolve(Modules.FULFILLMENT)
  const salesChannels = container.resolve(Modules.SALES_CHANNEL)
  const stores = container.resolve(Modules.STORE)

  const [store] = await stores.listStores()
  let [channel] = await salesChannels.listSalesChannels({ name: "Default Sales Channel" })
  if (!channel) {
    const { result } = await cf.createSalesChannelsWorkflow(container).run({
      input: { salesChannelsData: [{ name: "Default Sales Channel" }] },
    })
    channel = result[0]
  }
  await cf.updateStoresWorkflow(container).run({
    input: {
      selector: { id: store.id },
      update: {
        supported_currencies: [{ currency_code: "usd", is_default: true }],
        default_sales_channel_id: channel.id,
      },
    },
  })
  const { result: regions } = await cf.createRegionsWorkflow(container).run({
    input: {
      regions: [
        {
          name: "US",
          currency_code: "usd",
          countries: ["us"],
          payment_providers: ["pp_system_default"],
        },
      ],
    },
  })
  const region = regions[0]
  await cf.createTaxRegionsWorkflow(container).run({
    input: [{ country_code: "us", provider_id: "tp_system" }],
  })
  const { result: locations } = await cf.createStockLocationsWorkflow(container).run({
    input: {
      locations: [
        { name: "Bench warehouse", address: { city: "Austin", country_code: "US", address_1: "" } },
      ],
    },
  })
  const location = locations[0]
  await link.create({
    [Modules.STOCK_LOCATION]: { stock_location_id: location.id },
    [Modules.FULFILLMENT]: { fulfillment_provider_id: "manual_manual" },
  })
  let [profile] = await fulfillment.listShippingProfiles({ type: "default" })
  if (!profile) {
    const { result } = await cf.createShippingProfilesWorkflow(container).run({
      input: { data: [{ name: "Default Shipping Profile", type: "default" }] },
    })
    profile = result[0]
  }
  const fset = await fulfillment.createFulfillmentSets({
    name: "Bench delivery",
    type: "shipping",
    service_zones: [{ name: "US", geo_zones: [{ country_code: "us", type: "country" }] }],
  })
  await link.create({
    [Modules.STOCK_LOCATION]: { stock_location_id: location.id },
    [Modules.FULFILLMENT]: { fulfillment_set_id: fset.id },
  })
  const { result: options } = await cf.createShippingOptionsWorkflow(container).run({
    input: [
      {
        name: "Standard Shipping",
        price_type: "flat",
        provider_id: "manual_manual",
        service_zone_id: fset.service_zones[0].id,
        shipping_profile_id: profile.id,
        type: { label: "Standard", description: "Ship in 2-3 days.", code: "standard" },
        prices: [
          { currency_code: "usd", amount: 10 },
          { region_id: region.id, amount: 10 },
        ],
        rules: [
          { attribute: "enabled_in_store", value: "true", operator: "eq" },
          { attribute: "is_return", value: "false", operator: "eq" },
        ],
      },
    ],
  })
  await cf.linkSalesChannelsToStockLocationWorkflow(container).run({
    input: { id: location.id, add: [channel.id] },
  })
  const { result: keys } = await cf.createApiKeysWorkflow(container).run({
    input: { api_keys: [{ title: "Bench storefront", type: "publishable", created_by: "" }] },
  })
  await cf.linkSalesChannelsToApiKeyWorkflow(container).run({
    input: { id: keys[0].id, add: [channel.id] },
  })
  const out = {
    region_id: region.id,
    location_id: location.id,
    shipping_option_id: options[0].id,
    publishable_key: keys[0].token,
    products: {},
  }
  for (const [name, units] of Object.entries(products)) {
    const { result } = await cf.createProductsWorkflow(container).run({
      input: {
        products: [
          {
            title: `Bench tee ${name}`,
            handle: `bench-tee-${name}`,
            status: ProductStatus.PUBLISHED,
            shipping_profile_id: profile.id,
            options: [{ title: "Size", values: ["One"] }],
            variants: [
              {
                title: "One",
                sku: `BENCH-${name}`,
                options: { Size: "One" },
                manage_inventory: true,
                prices: [{ amount: 25, currency_code: "usd" }],
              },
            ],
            sales_channels: [{ id: channel.id }],
          },
        ],
      },
    })
    const variant = result[0].variants[0]
    const { data: items } = await query.graph({
      entity: "inventory_item",
      fields: ["id", "sku"],
      filters: { sku: `BENCH-${name}` },
    })
    await cf.createInventoryLevelsWorkflow(container).run({
      input: {
        inventory_levels: [
          { location_id: location.id, stocked_quantity: units, inventory_item_id: items[0].id },
        ],
      },
    })
    out.products[name] = { variant_id: variant.id, inventory_item_id: items[0].id, units }
  }
  fs.writeFileSync(process.env.SEED_OUT, JSON.stringify(out))
}
module.exports = { default: seed }
