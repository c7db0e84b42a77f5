//! Which channels are threads, their parents, and channel and guild names:
//! twilight's in-memory cache, limited to guilds and channels (threads are
//! channels). It fills from GUILD_CREATE (channels and active threads) and
//! stays current from CHANNEL_* and THREAD_* events; no REST calls.
//!
//! A channel the cache has not seen (possible only in the moments after a
//! (re)connect, before its GUILD_CREATE) yields an empty context: the event
//! is still forwarded, without `thread_parent_id` and the names.

use twilight_cache_inmemory::{DefaultInMemoryCache, ResourceType};
use twilight_model::gateway::event::Event;
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, GuildMarker};

use crate::envelope::Context;

#[derive(Debug)]
pub struct Directory {
    cache: DefaultInMemoryCache,
}

impl Default for Directory {
    fn default() -> Self {
        Self::new()
    }
}

impl Directory {
    pub fn new() -> Self {
        let cache = DefaultInMemoryCache::builder()
            .resource_types(ResourceType::GUILD | ResourceType::CHANNEL)
            .build();
        Directory { cache }
    }

    /// Feeds every gateway event through; the cache ignores what it does not keep.
    pub fn update(&self, event: &Event) {
        self.cache.update(event);
    }

    pub fn context(
        &self,
        guild_id: Option<Id<GuildMarker>>,
        channel_id: Option<Id<ChannelMarker>>,
    ) -> Context {
        let mut context = Context::default();
        if let Some(channel) = channel_id.and_then(|id| self.cache.channel(id)) {
            if channel.kind.is_thread() {
                context.thread_parent_id = channel.parent_id;
            }
            context.channel_name.clone_from(&channel.name);
        }
        if let Some(guild) = guild_id.and_then(|id| self.cache.guild(id)) {
            context.guild_name = Some(guild.name().to_owned());
        }
        context
    }
}
